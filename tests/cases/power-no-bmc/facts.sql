INSERT INTO hosts (name, appliance_id, distribution_id) SELECT 'compute-0-0', a.id, d.id FROM appliances a, distributions d WHERE a.name = 'compute' LIMIT 1;
