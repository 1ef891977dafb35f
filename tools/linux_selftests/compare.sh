#!/bin/bash
# compare.sh OUTDIR [UDF]: verifies each translated case, compares with Linux's verdict, and
# runs every case ours accepts on the checking interpreter (raw) over inputs of length 0..64
# (zero bytes and 0xff bytes), reporting any fault.
D=$1; U=${2:-udf}
while IFS=$'\t' read -r name src lv ty cs why; do
  if [ "$ty" = SKIP ]; then echo -e "SKIP\t$name\t$why"; continue; fi
  args=(--type $ty); [ -n "$cs" ] && args+=(--ctx-size $cs)
  if $U verify "$D/$name.s" "${args[@]}" >"$D/$name.verify" 2>&1; then ov=ACCEPT; else ov=REJECT; fi
  rule=$(grep -o 'udf::verify::[a-z0-9-]*' "$D/$name.verify" | head -1)
  fault=
  if [ $ov = ACCEPT ]; then
    if [ -n "$cs" ]; then lens="$cs"; else lens=$(seq 0 64); fi
    for n in $lens; do for b in 00 ff; do
      head -c $n /dev/zero | tr '\0' "\\$(printf '%03o' 0x$b)" > "$D/.in"
      if $U run "$D/$name.s" --type raw --input "$D/.in" 2>&1 | grep -q 'fault\|out of bounds'; then fault="FAULT(len=$n,byte=$b)"; break 2; fi
    done; done
  fi
  tag=AGREE; [ $lv != $ov ] && tag="LINUX_${lv}_OURS_${ov}"
  echo -e "$tag\t$name\t$rule\t$fault"
done < "$D/index.tsv"
