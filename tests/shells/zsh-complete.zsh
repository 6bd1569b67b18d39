# zsh -f zsh-complete.zsh SCRIPT LINE: print the candidates zsh offers for LINE<TAB>, one per
# line, with the completion SCRIPT loaded. It drives an interactive zsh on a pseudo-terminal
# (zsh/zpty) and has compadd report every match it is given.
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PROMPT='%% '; autoload -U compinit; compinit -u -D; source ${(q)1}; compdef _rocks-compile rocks-compile"
zpty -w z 'compadd() { local -a found; builtin compadd -O found "$@"; local w; for w in $found; do print -rn -- " MATCH<$w>" >/dev/tty; done; builtin compadd "$@" }'
zpty -w z 'zstyle ":completion:*" menu no'
zpty -w -n z "$2"$'\t'
sleep 2
out=""
while zpty -r -t z line; do out+="$line"; done
zpty -d z
print -r -- "$out" | grep -o 'MATCH<[^>$]*>' | sed 's/^MATCH<//; s/>$//' | sort -u
