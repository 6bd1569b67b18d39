-- Facts the database's own constraints would refuse, written around them (as an old tool, a
-- hand edit or a half-restored backup might): every problem must be reported in one run.
PRAGMA foreign_keys = OFF;
DROP TRIGGER interfaces_ip_inside_insert;
UPDATE networks SET gateway = NULL WHERE name = 'private';
INSERT INTO networks (name, cidr, zone, first_key, last_key, dhcp) VALUES ('ipmi', '10.1.0.0/24', 'ipmi', '0a010001', '0a0100fe', 0);
INSERT INTO bootactions (name, kernel, initrd, args) VALUES ('broken', '', '', '');
INSERT INTO appliances (name, root_node) VALUES ('gpu', 'gpu-root');
INSERT INTO hosts (id, name, appliance_id, distribution_id) VALUES
    (1, 'compute-0-0', 2, 1), (2, 'compute-0-1', 2, 1), (3, 'compute-0-2', 2, 1), (4, 'compute-0-3', 2, 1),
    (5, 'compute_0_4', 2, 1), (6, 'compute-0-5', 2, 1), (7, 'gpu-0-0', 5, 1), (8, 'compute-0-6', 2, 7), (9, 'lost-0-0', 99, 1);
UPDATE hosts SET install_action = 'broken' WHERE name = 'gpu-0-0';
UPDATE hosts SET boot = 'os', run_action = 'reboot-twice' WHERE name = 'compute-0-6';
INSERT INTO interfaces (host_id, device, mac, ip, ip_key, network_id, is_primary) VALUES
    (1, 'eth0', '52:54:00:00:00:01', '10.1.255.254', '0a01fffe', 1, 1),
    (2, 'eth0', '52:54:00:00:00:01 ', '10.1.255.300', '0a01ff12c', 1, 1),
    (3, 'eth0', '52:54:00:00:00:03', NULL, NULL, 1, 1),
    (4, 'eth0', '52:54:00:00:00:04', '10.2.0.5', '0a020005', 1, 1),
    (5, 'eth0', '52:54:00:00:00:05', '10.1.0.1', '0a010001', 2, 1),
    (6, 'eth0', '52:54:00:00:00:06', '10.1.0.1', '0a010001', 1, 1),
    (7, 'eth0', '52:54:00:00:00:07', '10.1.255.200', '0a01ffc8', 1, 1),
    (8, 'eth0', '52:54:00:00:00:08', '10.1.255.201', '0a01ffc9', 1, 1),
    (8, 'ib0', 'zz:54:00:00:00:08', NULL, NULL, NULL, 0);
INSERT INTO attributes (scope, target, key, value) VALUES ('host', 'compute-0-0', 'pxe_loader', 'floppy'), ('appliance', 'gpu', 'memory', '256G');
