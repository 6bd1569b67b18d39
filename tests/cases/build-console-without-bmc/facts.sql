INSERT INTO networks (name, cidr, zone, first_key, last_key, dhcp) VALUES ('mgmt', '10.2.0.0/24', 'mgmt', '0a020001', '0a0200fe', 0);
INSERT INTO hosts (id, name, appliance_id, distribution_id, rack, rank) SELECT 1, 'compute-0-0', a.id, 1, 0, 0 FROM appliances a WHERE a.name = 'compute';
INSERT INTO hosts (id, name, appliance_id, distribution_id, rack, rank) SELECT 2, 'compute-0-1', a.id, 1, 0, 1 FROM appliances a WHERE a.name = 'compute';
INSERT INTO hosts (id, name, appliance_id, distribution_id, rack, rank) SELECT 3, 'compute-0-2', a.id, 1, 0, 2 FROM appliances a WHERE a.name = 'compute';
INSERT INTO hosts (id, name, appliance_id, distribution_id, rack, rank) SELECT 4, 'compute-0-3', a.id, 1, 0, 3 FROM appliances a WHERE a.name = 'compute';
INSERT INTO interfaces (host_id, device, mac, ip, ip_key, network_id, is_primary) VALUES
    (1, 'eth0', '52:54:00:00:00:01', '10.1.255.254', '0a01fffe', 1, 1),
    (2, 'eth0', '52:54:00:00:00:02', '10.1.255.253', '0a01fffd', 1, 1),
    (3, 'eth0', '52:54:00:00:00:03', '10.1.255.252', '0a01fffc', 1, 1),
    (4, 'eth0', '52:54:00:00:00:04', '10.1.255.251', '0a01fffb', 1, 1);
INSERT INTO interfaces (host_id, device, ip, ip_key, network_id) SELECT 1, 'bmc', '10.2.0.10', '0a02000a', id FROM networks WHERE name = 'mgmt';
INSERT OR REPLACE INTO attributes (scope, target, key, value, secret) VALUES
    ('global', '', 'ipmi_user', 'admin', 0),
    ('global', '', 'ipmi_password', 'golden-secret', 1),
    ('global', '', 'console_serial', 'ttyS1,57600', 0),
    ('global', '', 'console_log_dir', '/srv/consoles', 0),
    ('host', 'compute-0-3', 'console_serial', '', 0);
