INSERT INTO hosts (id, name, appliance_id, distribution_id) VALUES
    (1, 'compute-0-0', (SELECT id FROM appliances WHERE name = 'compute'), 1);
INSERT INTO attributes (scope, target, key, value) VALUES ('global', '', 'nagios_host_template', 'linux server');
