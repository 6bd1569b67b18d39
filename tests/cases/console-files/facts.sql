INSERT INTO networks (name, cidr, zone, first_key, last_key, dhcp) VALUES ('mgmt', '10.2.0.0/24', 'mgmt', '0a020001', '0a0200fe', 0);
INSERT INTO hosts (id, name, appliance_id, distribution_id, rack, rank) SELECT 1, 'compute-0-0', a.id, 1, 0, 0 FROM appliances a WHERE a.name = 'compute';
INSERT INTO hosts (id, name, appliance_id, distribution_id, rack, rank) SELECT 2, 'compute-0-1', a.id, 1, 0, 1 FROM appliances a WHERE a.name = 'compute';
INSERT INTO hosts (id, name, appliance_id, distribution_id, rack, rank) SELECT 3, 'compute-1-0', a.id, 1, 1, 0 FROM appliances a WHERE a.name = 'compute';
INSERT INTO hosts (id, name, appliance_id, distribution_id, rack, rank) SELECT 4, 'compute-1-1', a.id, 1, 1, 1 FROM appliances a WHERE a.name = 'compute';
INSERT INTO hosts (id, name, appliance_id, distribution_id, rack, rank) SELECT 5, 'compute-0-2', a.id, 1, 0, 2 FROM appliances a WHERE a.name = 'compute';
INSERT INTO interfaces (host_id, device, ip, ip_key, network_id) SELECT 1, 'bmc', '10.2.0.10', '0a02000a', id FROM networks WHERE name = 'mgmt';
INSERT INTO interfaces (host_id, device, ip, ip_key, network_id) SELECT 2, 'bmc', '10.2.0.11', '0a02000b', id FROM networks WHERE name = 'mgmt';
INSERT INTO interfaces (host_id, device, ip, ip_key, network_id) SELECT 3, 'bmc', '10.2.0.20', '0a020014', id FROM networks WHERE name = 'mgmt';
INSERT INTO interfaces (host_id, device, ip, ip_key, network_id) SELECT 4, 'bmc', '10.2.0.21', '0a020015', id FROM networks WHERE name = 'mgmt';
INSERT INTO attributes (scope, target, key, value, secret) VALUES
    ('global', '', 'ipmi_user', 'admin', 0),
    ('global', '', 'ipmi_password', 'golden-secret', 1),
    ('host', 'compute-0-1', 'ipmi_port', '6230', 0),
    ('rack', '1', 'ipmi_password_file', '/etc/conserver/rack1.ipmi', 0),
    ('host', 'compute-1-1', 'ipmi_user', '', 0),
    ('rack', '1', 'ipmi_workarounds', 'opensesspriv, solpayloadsize', 0);
