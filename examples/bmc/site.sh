#!/bin/sh
# The example cluster with a management controller (BMC) in every host but the frontend:
# power, consoles and monitoring from the same facts. Run from the repository's top with the
# database to create in ROCKS_COMPILE_DB and the IPMI password on standard input:
#
#   printf '%s\n' 'the-ipmi-password' | ROCKS_COMPILE_DB=bmc.db sh examples/bmc/site.sh bmc-tree
#
# It writes the tree into the directory named (default `bmc-tree`); then, for example:
#   rocks-compile --db bmc.db power status 'compute-[0-1]-[0-1]' --dry-run
set -eu
rc=${ROCKS_COMPILE:-rocks-compile}
tree=${1:-bmc-tree}
"$rc" network add mgmt 10.2.0.0/24 --zone mgmt.local --dhcp
"$rc" host import examples/bmc/cluster.csv
"$rc" attr set ipmi_user ADMIN
"$rc" attr set ipmi_password --secret
# Rack 1's BMCs answer on another port (ConMan's ipmi: consoles take none: conserver's do).
"$rc" attr set ipmi_port 6230 --rack 1
# The serial port the BMCs' serial-over-LAN reads: the kernels' last console.
"$rc" attr set console_serial ttyS1,115200
# The frontend has no BMC: its console stays on its own screen.
"$rc" attr set console_serial '' --appliance frontend
# Rack 1's BMCs need a FreeIPMI workaround (for ConMan's and PowerMan's FreeIPMI tools).
"$rc" attr set ipmi_workarounds opensesspriv --rack 1
"$rc" attr set node_exporter_port 9100
printf '%s\n' 'choose-a-root-password' | "$rc" attr set Kickstart_PrivateRootPassword --secret
"$rc" build --framework . --framework examples/site --out "$tree"
