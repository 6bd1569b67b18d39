INSERT INTO appliances (name, graph, root_node, kickstartable, name_policy, ip_policy, first_rank, network)
VALUES ('switch', 'default', 'switch', 0, '{appliance}-{rack}-{rank}', 'countdown', 0, 'private');
INSERT INTO hosts (name, appliance_id, distribution_id) SELECT 'switch-0-0', a.id, d.id FROM appliances a, distributions d WHERE a.name = 'switch' LIMIT 1;
