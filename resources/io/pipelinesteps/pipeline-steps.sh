# Runs `pipeline-steps` with the arguments a library step put into the environment: PS_ARGC and
# PS_ARG_1..PS_ARG_N. Values never become shell text: `eval` below only ever sees the literal
# `"$PS_ARG_<number>"`, so a tag such as $(touch /tmp/x) reaches the CLI as that string.
set --
i=1
while [ "$i" -le "${PS_ARGC:-0}" ]; do
    eval "set -- \"\$@\" \"\$PS_ARG_$i\""
    i=$((i + 1))
done
exec pipeline-steps "$@"
