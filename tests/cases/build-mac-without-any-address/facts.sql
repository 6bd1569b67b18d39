INSERT INTO hosts (id, name, appliance_id, distribution_id, cpus) VALUES
    (1, 'frontend', (SELECT id FROM appliances WHERE name = 'frontend'), 1, 8),
    (2, 'compute-0-0', (SELECT id FROM appliances WHERE name = 'compute'), 1, 8),
    (3, 'compute-0-1', (SELECT id FROM appliances WHERE name = 'compute'), 1, 8),
    (4, 'compute-0-2', (SELECT id FROM appliances WHERE name = 'compute'), 1, 8);
INSERT INTO interfaces (host_id, device, mac, ip, ip_key, network_id, is_primary) VALUES
    (1, 'eth0', '52:54:00:00:00:0a', '10.1.1.1', '0a010101', (SELECT id FROM networks WHERE name = 'private'), 1),
    (2, 'eth0', '52:54:00:00:00:01', NULL, NULL, NULL, 1),
    (3, 'eth0', '52:54:00:00:00:02', NULL, NULL, NULL, 1),
    (3, 'eth1', '52:54:00:00:00:12', '10.1.255.250', '0a01fffa', (SELECT id FROM networks WHERE name = 'private'), 0);
