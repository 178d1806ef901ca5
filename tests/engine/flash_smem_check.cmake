# CTest bench.flash_smem_sim: the FlashAttention kernels' shared-memory reads on the simulated
# device are free of bank conflicts. `minimind_cusim bench` (one training step) with MM_CUSIM_STATS
# counts per kernel the 8 x 8 matrices every ldmatrix reads and the wavefronts they take beyond one
# each (engine/cusim/src/threads.cpp; the tiles are 128-byte aligned, so the simulator's addresses
# fall in the GPU's banks: smem_tile.h). For head sizes 64 (MiniMind's), 32 and 16, in bf16 (bf16
# storage: cp.async staging) and fp16 (fp32 storage: register staging): the forward, dQ and dK/dV
# kernels must each have read matrices, and none with a conflict.
# Usage: cmake -DEXE=... -DTMP=... -P flash_smem_check.cmake
set(shapes 128,2,1,96 128,4,2,80 64,4,2,40)  # dim, heads, kv heads, T: head size 64, 32, 16
foreach(shape_text IN LISTS shapes)
  string(REPLACE "," ";" shape "${shape_text}")
  list(GET shape 0 dim)
  list(GET shape 1 heads)
  list(GET shape 2 kv)
  list(GET shape 3 T)
  math(EXPR hs "${dim} / ${heads}")
  foreach(prec bf16 fp16)
    set(stats ${TMP}/flash_smem_${hs}_${prec}.tsv)
    file(REMOVE ${stats})
    execute_process(
      COMMAND ${CMAKE_COMMAND} -E env MM_QUIET=1 MM_CUSIM_STATS=${stats}
              ${EXE} bench --device cuda --precision ${prec} --dim ${dim} --n-layers 1 --n-heads ${heads}
              --n-kv-heads ${kv} --vocab 128 --seq-len ${T} --batch 1 --steps 1 --warmup-steps 0
      OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "bench (head size ${hs}, ${prec}) failed (${rc}):\n${err}${out}")
    endif()
    file(STRINGS ${stats} lines)
    foreach(kernel mm_fa_forward_kernel mm_fa_dq_kernel mm_fa_dkv_kernel)
      set(read 0)
      foreach(line IN LISTS lines)
        if(line MATCHES "^ldmatrix\t${kernel}<[^\t]*\t([0-9]+)$")
          set(read ${CMAKE_MATCH_1})
        endif()
      endforeach()
      if(NOT read GREATER 0)
        message(FATAL_ERROR "head size ${hs}, ${prec}: ${kernel} read no matrix (is the flash path taken?):\n"
                            "${lines}")
      endif()
    endforeach()
    foreach(line IN LISTS lines)
      if(line MATCHES "^ldmatrix_conflict\t")
        message(FATAL_ERROR "head size ${hs}, ${prec}: bank conflicts (wavefronts beyond one per matrix): "
                            "${line}")
      endif()
    endforeach()
    message(STATUS "head size ${hs}, ${prec}: the flash kernels' ldmatrix reads free of bank conflicts")
  endforeach()
endforeach()
