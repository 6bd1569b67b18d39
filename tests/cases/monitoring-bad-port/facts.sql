INSERT INTO hosts (id, name, appliance_id, distribution_id) VALUES
    (1, 'compute-0-0', (SELECT id FROM appliances WHERE name = 'compute'), 1);
INSERT INTO interfaces (host_id, device, mac, ip, ip_key, network_id, is_primary) VALUES
    (1, 'eth0', '52:54:00:00:00:01', '10.1.255.254', '0a01fffe', (SELECT id FROM networks WHERE name = 'private'), 1);
INSERT INTO attributes (scope, target, key, value) VALUES ('global', '', 'node_exporter_port', '91OO'), ('global', '', 'ganglia_port', '70000');
