INSERT INTO networks (name, cidr, zone, mtu, first_key, last_key) VALUES ('ib', '10.2.0.0/16', 'ib', 2044, '0a020001', '0a02fffe');
INSERT INTO hosts (name, appliance_id, distribution_id) VALUES ('compute-0-0', (SELECT id FROM appliances WHERE name = 'compute'), (SELECT id FROM distributions WHERE name = 'rocky-9'));
INSERT INTO interfaces (host_id, device, ip, ip_key, network_id) VALUES ((SELECT id FROM hosts WHERE name = 'compute-0-0'), 'ib0', '10.2.0.5', '0a020005', (SELECT id FROM networks WHERE name = 'ib'));
