// How this process runs its numerics on this machine: which vector ISA the
// CPU has, whether OpenBLAS picked kernels for it (and a re-exec once, before
// MPI starts, where it fell back to an older core), flush-to-zero for
// subnormal floats, and a one-line description for banners and benchmark
// tables. Does not choose threads or ranks; does not touch MPI state.
#pragma once

#include <optional>
#include <string>
#include <string_view>

// Loops that vectorise are compiled once per x86-64 level (v4: AVX-512, v3:
// AVX2, baseline) and the loader picks the clone for the CPU. A build
// configured with -DDPMNIST_ISA=x86-64-v3 compiles them once for that level
// instead (and never takes an AVX-512 path), so a machine with AVX-512 can
// test the kernels an AVX2 machine runs.
// Elsewhere than x86-64 they are compiled once, for the target.
#if defined(DPMNIST_ISA_CAP) || !defined(__x86_64__)
#define DPMNIST_CLONES
#else
#define DPMNIST_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif

namespace dpmnist {

// Vector ISA levels in the order OpenBLAS's x86-64 kernels use them.
enum class IsaLevel { kSse = 1, kAvx = 2, kAvx2 = 3, kAvx512 = 4 };

const char* isa_name(IsaLevel level);

// The level this build's kernels are capped at ("x86-64-v3"), or nullptr for
// the usual build with one clone per level.
const char* isa_cap();

// This CPU's level (AVX-512 = F, CD, BW, DQ and VL, as x86-64-v4; AVX2 = AVX2
// and FMA), as the OS enables it (libgcc checks XGETBV), and its brand string.
IsaLevel cpu_isa_level();
std::string cpu_model_name();

// The ISA an OpenBLAS core name's kernels use ("Prescott" -> kSse,
// "Zen" -> kAvx2, "SkylakeX" -> kAvx512), case-insensitive; nullopt for a
// name this table does not know.
std::optional<IsaLevel> openblas_core_isa(std::string_view core);

// The OPENBLAS_CORETYPE to ask for when OpenBLAS picked `picked` on a CPU of
// level `cpu`: the best core for the CPU where the picked core's kernels use
// an older ISA; nullopt where the pick is already as good, the name is
// unknown, or the CPU has nothing better than SSE. Pure; unit-tested.
std::optional<std::string> better_openblas_core(IsaLevel cpu, std::string_view picked);

// Call first in main(), before MPI_Init and before any thread starts. Where
// a DYNAMIC_ARCH OpenBLAS fell back to an older core and the user set no
// OPENBLAS_CORETYPE, re-executes this program once, by its own path so the
// process keeps its name, with the better one and SIGUSR1/SIGTERM held
// pending across the exec (returns only if no re-exec happens; under
// valgrind or ld.so it warns and runs on). Then sets flush-to-zero (see
// set_flush_denormals) here and in OpenBLAS's workers: the tools that only
// evaluate (dpmnist-eval, -predict, -serve) always flush; dpmnist-train
// follows runtime.flush_denormals. DPMNIST_FAULT_OPENBLAS_PICKED=NAME makes
// it act as if OpenBLAS had picked NAME (tests of the re-exec).
void init_runtime(char** argv);

// FTZ and DAZ in this thread's MXCSR: subnormal results become 0 and
// subnormal inputs read as 0 (microcoded, up to 100x slower, on some CPUs).
// Threads started afterwards inherit the setting; OpenBLAS's own workers
// are restarted by blas_set_threads() so they do too.
void set_flush_denormals(bool on);
bool flush_denormals_enabled();

// "Intel(R) Xeon(R) Processor (AVX-512), OpenBLAS 0.3.21 core SkylakeX (set
// by dpmnist; the library picked Prescott), denormals flushed": the machine a
// figure was measured on (callers add mpi_library_version() from comm.h).
std::string runtime_description();

}  // namespace dpmnist
