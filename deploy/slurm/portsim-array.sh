#!/bin/bash
# One shard of a portsim suite per Slurm array task.
#
#   JOBID=$(sbatch --parsable deploy/slurm/portsim-array.sh capacity results/capacity)
#   sbatch --dependency=afterok:$JOBID --wrap 'portsim merge -o results/capacity/all results/capacity/shard-*'
#
# Arguments: SUITE (a suite name or file, default capacity), the output
# DIR (default results/SUITE; task K writes DIR/shard-K), then any further
# portsim bench flags (-seeds 5, ...). The number of shards is the size of
# the array and -j is the task's CPUs, so `sbatch --array=0-15
# --cpus-per-task=8 ...` on the command line overrides the lines below
# without editing them. The array must be a plain range (no :step). PORTSIM
# names the portsim binary (default: portsim on the PATH).
#SBATCH --job-name=portsim
#SBATCH --array=0-7
#SBATCH --cpus-per-task=4
#SBATCH --output=portsim-%A_%a.out
set -euo pipefail
suite=${1:-capacity}
out=${2:-results/$suite}
shift $(($# < 2 ? $# : 2))
exec "${PORTSIM:-portsim}" bench "$suite" \
	-shards "$SLURM_ARRAY_TASK_COUNT" -j "${SLURM_CPUS_PER_TASK:-1}" \
	-o "$out/shard-$SLURM_ARRAY_TASK_ID" "$@"
