// How many CPUs this process may really use: affinity mask, cgroup quota, local ranks.
#include <sched.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "thread_pool.h"

namespace fm {
namespace {

int affinity_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

// ceil(quota / period), or 0 when there is no quota (or it cannot be read).
int quota_from(double quota, double period) {
  if (!(quota > 0) || !(period > 0)) return 0;
  return std::max(1, static_cast<int>(std::ceil(quota / period)));
}

int cgroup_cpus() {
  {  // cgroup v2: "max 100000" or "200000 100000"
    std::ifstream f("/sys/fs/cgroup/cpu.max");
    std::string quota;
    double period = 0;
    if (f >> quota >> period) {
      if (quota == "max") return 0;
      return quota_from(std::strtod(quota.c_str(), nullptr), period);
    }
  }
  std::ifstream q("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
  std::ifstream p("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  double quota = -1, period = 0;
  if ((q >> quota) && (p >> period)) return quota_from(quota, period);
  return 0;
}

int env_int(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return 0;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (end == v || *end != '\0' || n <= 0 || n > 4096) return 0;
  return static_cast<int>(n);
}

}  // namespace

int default_num_threads() {
  if (const int forced = env_int("FASTMED_NUM_THREADS")) return forced;
  int n = affinity_cpus();
  if (const int quota = cgroup_cpus()) n = std::min(n, quota);
  // torchrun starts LOCAL_WORLD_SIZE ranks on a node, each with the whole mask.
  if (const int ranks = env_int("LOCAL_WORLD_SIZE")) n = n / ranks;
  return std::max(1, n);
}

}  // namespace fm
