INSERT INTO hosts (name, appliance_id, distribution_id) VALUES ('compute-0-0', (SELECT id FROM appliances WHERE name = 'compute'), 1);
INSERT INTO attributes (scope, target, key, value) VALUES
    ('appliance', 'compute', 'Kickstart_Timezone', 'Europe/Berlin' || char(10) || '%post' || char(10) || 'id' || char(10) || '%end'),
    ('host', 'compute-0-0', 'extra_packages', 'vim' || char(10) || 'emacs'),
    ('global', '', 'motd_path', '/etc/motd'),
    ('global', '', 'motd', 'fine' || char(10) || 'here'),
    ('global', '', 'post_shell', '/bin/sh');
