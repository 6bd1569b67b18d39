INSERT INTO hosts (id, name, appliance_id, distribution_id, cpus) VALUES (1, 'compute-0-0', 2, 1, 8), (2, 'compute-0-1', 2, 1, 8);
INSERT INTO interfaces (host_id, device, mac, ip, ip_key, network_id, is_primary) VALUES
    (1, 'eth0', '52:54:00:00:00:01', '10.1.255.254', '0a01fffe', 1, 1), (2, 'eth0', '52:54:00:00:00:02', '10.1.255.253', '0a01fffd', 1, 1);
INSERT INTO attributes (scope, target, key, value) VALUES ('host', 'compute-0-0', 'queue', 'long'), ('host', 'compute-0-1', 'queue', 'all');
