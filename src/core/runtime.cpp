#include "dpmnist/core/runtime.h"

#include <signal.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <xmmintrin.h>
#endif

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "dpmnist/core/blas.h"

namespace dpmnist {

namespace {

// MXCSR bits: flush-to-zero (results) and denormals-are-zero (inputs).
constexpr unsigned kFlushToZero = 0x8000;
constexpr unsigned kDenormalsAreZero = 0x0040;

// Set in the re-executed process: the core OpenBLAS picked the first time.
constexpr const char* kPickedVariable = "DPMNIST_OPENBLAS_PICKED";

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

}  // namespace

const char* isa_name(IsaLevel level) {
  switch (level) {
    case IsaLevel::kAvx512:
      return "AVX-512";
    case IsaLevel::kAvx2:
      return "AVX2";
    case IsaLevel::kAvx:
      return "AVX";
    case IsaLevel::kSse:
      return "SSE";
  }
  return "?";
}

const char* isa_cap() {
#ifdef DPMNIST_ISA_CAP
  return DPMNIST_ISA_CAP;
#else
  return nullptr;
#endif
}

#if defined(__x86_64__)
IsaLevel cpu_isa_level() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl")) {
    return IsaLevel::kAvx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return IsaLevel::kAvx2;
  if (__builtin_cpu_supports("avx")) return IsaLevel::kAvx;
  return IsaLevel::kSse;
}

std::string cpu_model_name() {
  std::array<unsigned, 12> brand{};
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(0x80000000u, &eax, &ebx, &ecx, &edx) || eax < 0x80000004u) return "unknown CPU";
  for (unsigned leaf = 0; leaf < 3; ++leaf) {
    __get_cpuid(0x80000002u + leaf, &brand[4 * leaf], &brand[4 * leaf + 1], &brand[4 * leaf + 2],
                &brand[4 * leaf + 3]);
  }
  char text[sizeof(brand) + 1] = {};
  std::memcpy(text, brand.data(), sizeof(brand));
  std::string name(text);
  name.erase(0, name.find_first_not_of(' '));
  while (!name.empty() && name.back() == ' ') name.pop_back();
  return name.empty() ? "unknown CPU" : name;
}
#else
// Not x86-64: OpenBLAS's x86 core names never apply, so there is no better
// core to ask for; the CPU is named by the kernel.
IsaLevel cpu_isa_level() {
  return IsaLevel::kSse;
}

std::string cpu_model_name() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0 || line.rfind("Model", 0) == 0) {
      return line.substr(line.find(':') + 2);
    }
  }
  return "unknown CPU";
}
#endif

std::optional<IsaLevel> openblas_core_isa(std::string_view core) {
  // OpenBLAS's x86-64 core names (driver/others/dynamic.c) by kernel ISA.
  static constexpr std::array<std::pair<IsaLevel, std::string_view>, 4> kCores = {{
      {IsaLevel::kSse,
       " katmai coppermine northwood prescott banias atom core2 penryn dunnington nehalem athlon"
       " opteron opteron_sse3 barcelona nano bobcat "},
      {IsaLevel::kAvx, " sandybridge bulldozer piledriver "},
      {IsaLevel::kAvx2, " haswell steamroller excavator zen dhyana "},
      {IsaLevel::kAvx512, " skylakex cooperlake sapphirerapids "},
  }};
  if (core.empty() || core.find(' ') != std::string_view::npos) return std::nullopt;
  const std::string word = " " + lowercase(core) + " ";
  for (const auto& [level, names] : kCores) {
    if (names.find(word) != std::string_view::npos) return level;
  }
  return std::nullopt;
}

std::optional<std::string> better_openblas_core(IsaLevel cpu, std::string_view picked) {
  const std::optional<IsaLevel> picked_isa = openblas_core_isa(picked);
  if (!picked_isa || *picked_isa >= cpu) return std::nullopt;
  // One core per level, the oldest with that level's sgemm kernels, so CPUs
  // of one level (Intel and AMD alike) run the same kernels and round alike.
  switch (cpu) {
    case IsaLevel::kAvx512:
      return "SkylakeX";
    case IsaLevel::kAvx2:
      return "Haswell";
    case IsaLevel::kAvx:
      return "Sandybridge";
    case IsaLevel::kSse:
      return std::nullopt;
  }
  return std::nullopt;
}

namespace {

// Tests of the re-exec on CPUs whose OpenBLAS pick is already right: the
// core name to act as if OpenBLAS had picked (e.g. Prescott).
constexpr const char* kFaultPickedVariable = "DPMNIST_FAULT_OPENBLAS_PICKED";

// The signals the trainer handles, blocked across the re-exec: exec resets
// handlers but keeps the mask and pending signals, so a preemption warning
// that arrives meanwhile waits for the new process instead of killing it.
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGTERM);
  return set;
}

// This program's file, when /proc/self/exe is it (not valgrind, ld.so or an
// emulator running it, and not deleted since): exec'ing that path keeps the
// process name (comm) ps, pgrep and killall look for.
std::optional<std::string> own_executable(const char* argv0) {
  std::error_code error;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error || !std::filesystem::exists(exe, error)) return std::nullopt;
  if (exe.filename() != std::filesystem::path(argv0).filename()) return std::nullopt;
  return exe.string();
}

}  // namespace

void init_runtime(char** argv) {
  const char* fault = std::getenv(kFaultPickedVariable);
  const std::string picked = fault ? fault : blas_core_name();
  const bool dynamic = blas_config().find("DYNAMIC_ARCH") != std::string::npos;
  const bool reexecuted = std::getenv(kPickedVariable) != nullptr;
  const auto better = better_openblas_core(cpu_isa_level(), picked);
  if (better && dynamic && !reexecuted && !std::getenv("OPENBLAS_CORETYPE")) {
    if (const auto self = own_executable(argv[0])) {
      setenv("OPENBLAS_CORETYPE", better->c_str(), 1);
      setenv(kPickedVariable, picked.c_str(), 1);
      const sigset_t blocked = stop_signals();
      sigprocmask(SIG_BLOCK, &blocked, nullptr);
      execv(self->c_str(), argv);
      sigprocmask(SIG_UNBLOCK, &blocked, nullptr);
      unsetenv("OPENBLAS_CORETYPE");
      unsetenv(kPickedVariable);
    }
    // Still here: run on with the library's own pick, and say so.
    std::cerr << "warning: could not re-execute with OPENBLAS_CORETYPE=" << *better
              << "; running OpenBLAS's " << picked << " kernels, slower than this CPU allows\n";
  }
  if (reexecuted) {
    const sigset_t blocked = stop_signals();
    sigprocmask(SIG_UNBLOCK, &blocked, nullptr);  // what arrived meanwhile is delivered now
  }
  set_flush_denormals(true);
  blas_set_threads(blas_threads());  // its workers, started at load, take the mode too
}

#if defined(__x86_64__)
void set_flush_denormals(bool on) {
  const unsigned bits = kFlushToZero | kDenormalsAreZero;
  _mm_setcsr(on ? (_mm_getcsr() | bits) : (_mm_getcsr() & ~bits));
}

bool flush_denormals_enabled() {
  const unsigned bits = kFlushToZero | kDenormalsAreZero;
  return (_mm_getcsr() & bits) == bits;
}
#elif defined(__aarch64__)
// FPCR.FZ (bit 24): flush subnormal inputs and results to zero.
void set_flush_denormals(bool on) {
  std::uint64_t fpcr = 0;
  asm volatile("mrs %0, fpcr" : "=r"(fpcr));
  fpcr = on ? (fpcr | (1ull << 24)) : (fpcr & ~(1ull << 24));
  asm volatile("msr fpcr, %0" : : "r"(fpcr));
}

bool flush_denormals_enabled() {
  std::uint64_t fpcr = 0;
  asm volatile("mrs %0, fpcr" : "=r"(fpcr));
  return (fpcr >> 24) & 1;
}
#else
void set_flush_denormals(bool) {}  // left to the platform's default

bool flush_denormals_enabled() {
  return false;
}
#endif

std::string runtime_description() {
  const std::string core = blas_core_name();
  std::string blas = blas_version() + " core " + core;
  const char* picked = std::getenv(kPickedVariable);
  const char* asked = std::getenv("OPENBLAS_CORETYPE");
  if (picked && asked && lowercase(core) == lowercase(asked)) {
    blas += std::string(" (set by dpmnist; the library picked ") + picked + ")";
  } else if (picked && asked) {
    blas += std::string(" (asked for ") + asked + "; the library kept " + core + ")";
  } else if (asked) {
    blas += " (OPENBLAS_CORETYPE)";
  }
  const std::string kernels =
      isa_cap() ? std::string(", dpmnist kernels ") + isa_cap() + " only" : "";
  return cpu_model_name() + " (" + isa_name(cpu_isa_level()) + ")" + kernels + ", " + blas +
         ", denormals " + (flush_denormals_enabled() ? "flushed" : "kept");
}

}  // namespace dpmnist
