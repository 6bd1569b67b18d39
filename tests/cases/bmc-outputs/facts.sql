INSERT INTO networks (name, cidr, zone, first_key, last_key, dhcp) VALUES ('mgmt', '10.2.0.0/16', 'mgmt.local', '0a020001', '0a02fffe', 1);
INSERT INTO hosts (id, name, appliance_id, distribution_id) VALUES
    (1, 'frontend', (SELECT id FROM appliances WHERE name = 'frontend'), 1),
    (2, 'compute-0-0', (SELECT id FROM appliances WHERE name = 'compute'), 1),
    (3, 'compute-0-1', (SELECT id FROM appliances WHERE name = 'compute'), 1),
    (4, 'compute-0-2', (SELECT id FROM appliances WHERE name = 'compute'), 1);
INSERT INTO interfaces (host_id, device, mac, ip, ip_key, network_id, is_primary) VALUES
    (1, 'eth0', '52:54:00:00:00:01', '10.1.1.1', '0a010101', 1, 1),
    (1, 'bmc', '52:54:00:bb:00:01', '10.2.255.254', '0a02fffe', 2, 0),
    (2, 'eth0', '52:54:00:00:00:02', '10.1.255.254', '0a01fffe', 1, 1),
    (2, 'bmc', '52:54:00:bb:00:02', '10.2.255.253', '0a02fffd', 2, 0),
    (3, 'eth0', '52:54:00:00:00:03', '10.1.255.253', '0a01fffd', 1, 1),
    (3, 'bmc', '52:54:00:bb:00:03', '10.2.255.252', '0a02fffc', 2, 0),
    (4, 'eth0', '52:54:00:00:00:04', '10.1.255.252', '0a01fffc', 1, 1),
    (4, 'bmc', NULL, '10.2.0.4', '0a020004', 2, 0);
INSERT INTO attributes (scope, target, key, value, secret) VALUES
    ('global', '', 'ipmi_user', 'admin-user-7', 1),
    ('global', '', 'ipmi_password', 'ipmi-secret-7', 1),
    ('host', 'compute-0-1', 'bmc_name_pattern', 'ipmi-{host}', 0);
