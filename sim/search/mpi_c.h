#pragma once
// MPI's C API alone, for sweep_mpi.cpp and plan_mpi.cpp (Open MPI and MPICH would otherwise
// pull in their deprecated C++ bindings).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
