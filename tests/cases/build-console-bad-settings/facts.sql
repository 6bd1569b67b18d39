INSERT INTO networks (name, cidr, zone, first_key, last_key, dhcp) VALUES ('mgmt', '10.2.0.0/24', 'mgmt', '0a020001', '0a0200fe', 0);
INSERT INTO hosts (id, name, appliance_id, distribution_id, rack, rank) SELECT 1, 'compute-0-0', a.id, 1, 0, 0 FROM appliances a WHERE a.name = 'compute';
INSERT INTO hosts (id, name, appliance_id, distribution_id, rack, rank) SELECT 2, 'compute-0-1', a.id, 1, 0, 1 FROM appliances a WHERE a.name = 'compute';
INSERT INTO interfaces (host_id, device, ip, ip_key, network_id) SELECT 1, 'bmc', '10.2.0.10', '0a02000a', id FROM networks WHERE name = 'mgmt';
INSERT INTO interfaces (host_id, device, ip, ip_key, network_id) SELECT 2, 'bmc', '10.2.0.11', '0a02000b', id FROM networks WHERE name = 'mgmt';
INSERT OR REPLACE INTO attributes (scope, target, key, value, secret) VALUES
    ('global', '', 'ipmi_user', 'admin', 0),
    ('global', '', 'ipmi_password', 'golden-secret', 1),
    ('rack', '0', 'ipmi_workarounds', 'opensespriv,solpayloadsize', 0),
    ('global', '', 'console_users', 'root;reboot', 0),
    ('global', '', 'console_config_dir', 'tree/console', 0),
    ('global', '', 'console_log_dir', '', 0),
    ('global', '', 'ipmi_config_dir', '/srv/power dir', 0);
