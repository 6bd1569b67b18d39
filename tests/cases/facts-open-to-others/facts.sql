-- root's password hash, stored as a secret
INSERT OR REPLACE INTO attributes (scope, target, key, value, secret)
VALUES ('global', '', 'Kickstart_PrivateRootPassword', '$6$saltsalt$hash', 1);
