INSERT INTO hosts (name, appliance_id, distribution_id) VALUES ('compute-0-0', (SELECT id FROM appliances WHERE name = 'compute'), (SELECT id FROM distributions WHERE name = 'rocky-9'));
