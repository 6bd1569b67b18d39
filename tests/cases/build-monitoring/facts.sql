INSERT INTO networks (name, cidr, zone, first_key, last_key, dhcp) VALUES ('ipmi', '10.2.0.0/16', 'ipmi', '0a020001', '0a02fffe', 0);
INSERT INTO hosts (id, name, appliance_id, distribution_id, rack, rank, cpus) VALUES
    (1, 'frontend', (SELECT id FROM appliances WHERE name = 'frontend'), 1, 0, 0, 8),
    (2, 'compute-0-0', (SELECT id FROM appliances WHERE name = 'compute'), 1, 0, 0, 8),
    (3, 'compute-0-10', (SELECT id FROM appliances WHERE name = 'compute'), 1, 0, 10, 8),
    (4, 'compute-0-2', (SELECT id FROM appliances WHERE name = 'compute'), 1, 0, 2, 8),
    (5, 'login-1-0', (SELECT id FROM appliances WHERE name = 'login'), 1, 1, 0, 8),
    (6, 'compute-1-0', (SELECT id FROM appliances WHERE name = 'compute'), 1, 1, 1, 8);
INSERT INTO interfaces (host_id, device, mac, ip, ip_key, network_id, is_primary) VALUES
    (1, 'eth0', '52:54:00:00:00:0a', '10.1.1.1', '0a010101', (SELECT id FROM networks WHERE name = 'private'), 1),
    (2, 'eth0', '52:54:00:00:00:01', '10.1.255.254', '0a01fffe', (SELECT id FROM networks WHERE name = 'private'), 1),
    (2, 'bmc', '52:54:00:00:01:01', '10.2.0.1', '0a020001', (SELECT id FROM networks WHERE name = 'ipmi'), 0),
    (3, 'eth0', '52:54:00:00:00:02', '10.1.255.253', '0a01fffd', (SELECT id FROM networks WHERE name = 'private'), 1),
    (3, 'bmc', '52:54:00:00:01:02', '10.2.0.2', '0a020002', (SELECT id FROM networks WHERE name = 'ipmi'), 0),
    (4, 'eth0', '52:54:00:00:00:03', '10.1.255.252', '0a01fffc', (SELECT id FROM networks WHERE name = 'private'), 1),
    (5, 'eth0', '52:54:00:00:00:04', '10.1.255.251', '0a01fffb', (SELECT id FROM networks WHERE name = 'private'), 1),
    (6, 'eth0', NULL, NULL, NULL, NULL, 1);
INSERT OR REPLACE INTO attributes (scope, target, key, value) VALUES
    ('global', '', 'Info_ClusterName', 'Lab "one"'),
    ('global', '', 'node_exporter_port', '9101');
