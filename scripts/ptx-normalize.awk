# ptx-normalize.awk renames the virtual registers of a PTX file in order of first use within each
# function (%fd141, %fd142 -> %fd#1, %fd#2 ...), so that two PTX files that differ only in how the
# compiler numbered its registers compare equal. nvcc 11.8 sometimes numbers them differently from
# run to run for the same source; make ptx-check compares normalised files.
/^(\.[a-z]+[ \t]+)*\.(entry|func)[ \t]/ { delete seen; n = 0 }
{
  line = $0
  out = ""
  while (match(line, /%[a-z]+[0-9]+/)) {
    reg = substr(line, RSTART, RLENGTH)
    if (!(reg in seen)) seen[reg] = "#" (++n)
    prefix = reg
    sub(/[0-9]+$/, "", prefix)
    out = out substr(line, 1, RSTART - 1) prefix seen[reg]
    line = substr(line, RSTART + RLENGTH)
  }
  print out line
}
