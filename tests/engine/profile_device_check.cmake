# CTest bench.profile_device_sim: `minimind_cusim bench --device cuda --profile --json` — the
# profile of the simulated GPU: timed on the device clock (events), every op that ran has calls
# and a positive time, the residual products go through their own ops (2 per layer and step: one
# cuBLASLt matmul each, on bf16 operands), the JSON records the attention and the blocks' bf16
# storage, and no floors (the simulated device is not in the peak table).
# Usage: cmake -DEXE=... -P profile_device_check.cmake
execute_process(
  COMMAND ${EXE} bench --device cuda --dim 64 --n-layers 2 --n-heads 4 --n-kv-heads 2 --vocab 128 --seq-len 32
          --batch 1 --steps 2 --warmup-steps 0 --profile --json
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "bench failed (${rc}):\n${err}${out}")
endif()
string(JSON clock GET "${out}" profile_clock)
if(NOT clock STREQUAL "device")
  message(FATAL_ERROR "profile_clock is '${clock}', not device:\n${out}")
endif()
# bf16 (the default): both blocks' residual products on bf16 operands (their activations stored in
# bf16), none in fp32 storage (an op that never ran is absent from the profile)
string(JSON res ERROR_VARIABLE absent GET "${out}" profile matmul_forward_residual calls)
string(JSON res16 GET "${out}" profile matmul_forward_residual_bf16 calls)
if(NOT absent OR NOT res16 EQUAL 4)
  message(FATAL_ERROR "matmul_forward_residual: ${res} and _bf16: ${res16} calls per step, expected none and 4 "
                      "(2 layers, 2 blocks):\n${out}")
endif()
# and the run records it: the flash kernels, both blocks and the head stored in bf16
foreach(pair "attention;flash" "attention_storage;bf16" "ffn;bf16" "head;bf16")
  list(GET pair 0 key)
  list(GET pair 1 want)
  string(JSON got ERROR_VARIABLE missing GET "${out}" ${key})
  if(NOT got STREQUAL want)
    message(FATAL_ERROR "bench JSON ${key}: '${got}', expected '${want}':\n${out}")
  endif()
endforeach()
string(JSON nops LENGTH "${out}" profile)
math(EXPR last "${nops} - 1")
foreach(i RANGE ${last})
  string(JSON op MEMBER "${out}" profile ${i})
  string(JSON ms GET "${out}" profile ${op} ms)
  string(JSON floor TYPE "${out}" profile ${op} floor_ms)
  if(NOT ms GREATER 0)
    message(FATAL_ERROR "${op}: no time (${ms} ms)")
  endif()
  if(NOT floor STREQUAL "NULL")
    message(FATAL_ERROR "${op}: a floor on a device without peaks")
  endif()
endforeach()
message(STATUS "profile on the simulated device: ${nops} ops timed by device events")
