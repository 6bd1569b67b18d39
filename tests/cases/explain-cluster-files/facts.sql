INSERT INTO hosts (id, name, appliance_id, distribution_id, cpus) VALUES
    (1, 'compute-0-0', (SELECT id FROM appliances WHERE name = 'compute'), 1, 8),
    (2, 'frontend', (SELECT id FROM appliances WHERE name = 'frontend'), 1, 8);
INSERT INTO interfaces (host_id, device, ip, ip_key, network_id, is_primary) VALUES (2, 'eth0', '10.1.1.1', '0a010101', (SELECT id FROM networks WHERE name = 'private'), 1);
INSERT INTO install_servers (name, ip, url) VALUES ('is-0', '10.1.1.2', 'http://10.1.1.2/install/rocks');
