-- Facts the database's own constraints would refuse, written around them.
PRAGMA foreign_keys = OFF;
DROP TRIGGER interfaces_ip_inside_insert;
INSERT INTO networks (name, cidr, zone, first_key, last_key, dhcp) VALUES ('mgmt', '10.2.0.0/16', 'mgmt.local', '0a020001', '0a02fffe', 1),
    ('oob', '10.2.0.0/24', 'oob.local', '0a020001', '0a0200fe', 0);
INSERT INTO hosts (id, name, appliance_id, distribution_id) VALUES
    (1, 'compute-0-0', 2, 1), (2, 'compute-0-1', 2, 1), (3, 'compute-0-2', 2, 1), (4, 'compute-0-3', 2, 1);
INSERT INTO interfaces (host_id, device, mac, ip, ip_key, network_id, is_primary) VALUES
    (1, 'eth0', '52:54:00:00:00:01', '10.1.255.254', '0a01fffe', 1, 1),
    (1, 'bmc', '52:54:00:bb:00:01', '10.3.0.1', '0a030001', 2, 0),
    (2, 'eth0', '52:54:00:00:00:02', '10.1.255.253', '0a01fffd', 1, 1),
    (2, 'bmc', '52:54:00:bb:00:02', '10.2.0.9', '0a020009', 2, 0),
    (3, 'eth0', '52:54:00:00:00:03', '10.1.255.252', '0a01fffc', 1, 1),
    (3, 'bmc', '52:54:00:bb:00:03', '10.2.0.9', '0a020009', 3, 0),
    (4, 'eth0', '52:54:00:00:00:04', '10.1.255.251', '0a01fffb', 1, 0),
    (4, 'bmc', '52:54:00:bb:00:04', NULL, NULL, 2, 1);
