INSERT INTO hosts (name, appliance_id, distribution_id) SELECT 'compute-0-0', a.id, d.id FROM appliances a, distributions d WHERE a.name = 'compute' LIMIT 1;
INSERT INTO interfaces (host_id, device, mac, ip, ip_key, network_id, is_primary) SELECT h.id, 'eth0', '52:54:00:00:00:01', '10.1.255.254', '0a01fffe', n.id, 1 FROM hosts h, networks n WHERE h.name = 'compute-0-0' AND n.name = 'private';
