#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for the workflow's tests (tests/test_slurm.py) and CI:
# munge, MariaDB (through mysqld_safe), slurmdbd (so that sacct answers), slurmctld and slurmd,
# from the distribution's packages. Idempotent: run it again and it only starts what is not up.
# Root only. No cgroups needed: process tracking by /proc (proctrack/linuxproc), no task plugin,
# no cgroup.conf (SLURM 22.05 has no "disabled" cgroup plugin, so none is configured).
# Partitions `cpu` (default) and `gpu` both hold this one node, so profiles/slurm's partition
# names are accepted as they are.
set -euo pipefail
log() { echo "slurm-up.sh: $*" >&2; }
[ "$(id -u)" = 0 ] || { log "run as root (it installs packages and starts daemons)"; exit 1; }

CLUSTER=${SLURM_CLUSTER_NAME:-resshift}
NODE=$(hostname -s)
CPUS=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)    # nproc alone follows OMP_NUM_THREADS (make test sets 1)
MEM_MB=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) * 9 / 10 ))
DB_PASS=${SLURMDB_PASS:-slurmdb-ci}

wait_for() {   # wait_for SECONDS WHAT COMMAND...
    local n=$1 what=$2; shift 2
    for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
    log "$what did not come up; see /var/log/slurm/ and /var/log/mysql/"; return 1
}

if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null || ! command -v mysqld_safe >/dev/null \
        || ! command -v munged >/dev/null; then
    log "installing slurm-wlm slurmdbd mariadb-server munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm slurmdbd mariadb-server mariadb-client munge >/dev/null
fi

mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /run/mysqld
# munge: a key (the package usually makes one), daemon as user munge
if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile /etc/munge/munge.key 2>/dev/null || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null
fi
chown munge:munge /etc/munge/munge.key /run/munge && chmod 400 /etc/munge/munge.key && chmod 755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
    wait_for 20 munged sh -c 'munge -n | unmunge'
fi

# MariaDB and slurmdbd's database
chown mysql:mysql /run/mysqld
if ! mysqladmin ping >/dev/null 2>&1; then
    [ -d /var/lib/mysql/mysql ] || mysql_install_db --user=mysql >/dev/null
    nohup mysqld_safe --user=mysql >/var/log/slurm/mysqld_safe.log 2>&1 &
    wait_for 60 MariaDB mysqladmin ping
fi
mysql -u root <<SQL
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '${DB_PASS}';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
SQL

cat >/etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=${DB_PASS}
StorageLoc=slurm_acct_db
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurmdbd.pid
CONF
chmod 600 /etc/slurm/slurmdbd.conf

cat >/etc/slurm/slurm.conf <<CONF
ClusterName=${CLUSTER}
SlurmctldHost=${NODE}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageEnforce=associations
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
MinJobAge=600
NodeName=${NODE} CPUs=${CPUS} RealMemory=${MEM_MB} State=UNKNOWN
PartitionName=cpu Nodes=${NODE} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=${NODE} MaxTime=INFINITE State=UP
CONF

if ! pgrep -x slurmdbd >/dev/null; then
    slurmdbd
    wait_for 30 slurmdbd sacctmgr -n list cluster
fi
# the cluster, an account and this user in the accounting database (AccountingStorageEnforce)
sacctmgr -i -Q add cluster "${CLUSTER}" >/dev/null 2>&1 || true
sacctmgr -i -Q add account ci Cluster="${CLUSTER}" Description=ci Organization=ci >/dev/null 2>&1 || true
for user in root ${SUDO_USER:-}; do
    sacctmgr -i -Q add user "$user" Account=ci Cluster="${CLUSTER}" >/dev/null 2>&1 || true
done

if ! pgrep -x slurmctld >/dev/null; then
    slurmctld
    wait_for 30 slurmctld scontrol ping
else
    scontrol reconfigure >/dev/null          # the configuration written above
fi
if ! pgrep -x slurmd >/dev/null; then
    slurmd
fi
wait_for 30 "node ${NODE}" sh -c "sinfo -h -N -o %T | grep -qE '^(idle|mixed|allocated)'"
scontrol update NodeName="${NODE}" State=RESUME >/dev/null 2>&1 || true
log "up: cluster ${CLUSTER}, node ${NODE} (${CPUS} CPUs, ${MEM_MB} MB), partitions cpu (default) and gpu"
