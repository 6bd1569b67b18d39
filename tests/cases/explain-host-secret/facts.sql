INSERT INTO hosts (id, name, appliance_id, distribution_id, cpus) VALUES (1, 'compute-0-0', 2, 1, 8);
INSERT INTO attributes (scope, target, key, value, secret) VALUES
    ('global', '', 'site_name', 'global-site', 0),
    ('rack', '0', 'site_name', 'rack-zero', 0),
    ('host', 'compute-0-0', 'sshd_root_login', 'prohibit-password', 1);
