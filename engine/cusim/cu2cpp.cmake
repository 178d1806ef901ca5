# cusim: turns one CUDA source into C++ for the simulator (cmake -DIN=x.cu -DOUT=x.cpp -P cu2cpp.cmake).
#   kernel<<<grid, block[, shm[, stream]]>>>(args)  ->  cusim_launch(kernel, "kernel", grid, block[, ...])(args)
#     (kernel may be a template instance: name<A, B>; a line break before <<< is fine, and kept inside
#     the call: clang-format makes one in long launches)
#   extern __shared__ T name[];                     ->  T *name = (T *)cusim_dynamic_shared();
#   __shared__ T name[N];                           ->  static T name[N]; cusim_shared_fresh(name, sizeof name);
#     (also with more dimensions: name[2][N])
#   __shared__ __align__(A) T name[N];              ->  alignas(A) static T name[N]; ...
#     (the first thread of each block to get there fills it with 0xFF bytes: stale data shows)
# Line breaks are kept and a #line directive names the .cu file, so diagnostics point into it.
file(READ "${IN}" src)
string(REGEX REPLACE "([A-Za-z_][A-Za-z_0-9]*(<[A-Za-z_0-9, ]*>)?)([ \t\n]*)<<<([^>]*)>>>" "cusim_launch(\\1, \"\\1\",\\3 \\4)" src
       "${src}")
string(REGEX REPLACE "extern __shared__ ([A-Za-z_][A-Za-z_0-9]*) ([A-Za-z_][A-Za-z_0-9]*)\\[\\];"
       "\\1 *\\2 = (\\1 *)cusim_dynamic_shared();" src "${src}")
string(REGEX REPLACE "__shared__ __align__\\(([0-9]+)\\) ([A-Za-z_][A-Za-z_0-9]*) ([A-Za-z_][A-Za-z_0-9]*)((\\[[^]]*\\])+);"
       "alignas(\\1) static \\2 \\3\\4; cusim_shared_fresh(\\3, sizeof \\3);" src "${src}")
string(REGEX REPLACE "__shared__ ([A-Za-z_][A-Za-z_0-9]*) ([A-Za-z_][A-Za-z_0-9]*)((\\[[^]]*\\])+);"
       "static \\1 \\2\\3; cusim_shared_fresh(\\2, sizeof \\2);" src "${src}")
if(src MATCHES "<<<|__shared__")
  message(FATAL_ERROR "cu2cpp: ${IN}: a launch or __shared__ declaration this script cannot rewrite")
endif()
file(WRITE "${OUT}.tmp" "#line 1 \"${IN}\"\n${src}")
file(RENAME "${OUT}.tmp" "${OUT}")
