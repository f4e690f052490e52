# cmake -DOBJDUMP=objdump -DKERNEL=avx|scalar -DFILES=a|b|c -P check_isa.cmake
#
# kernel=scalar: none of FILES may contain a VEX-encoded (v-prefixed SSE/AVX)
#                instruction.
# kernel=avx:    the first file (libminipaddle) must contain some.
set(_vex_regex "\t(vzeroupper|vzeroall|v[a-z0-9]+[ \t]+[^\n]*%[xy]mm)")
string(REPLACE "|" ";" FILES "${FILES}")
set(_first TRUE)
foreach(_file IN LISTS FILES)
  execute_process(COMMAND ${OBJDUMP} -d --no-show-raw-insn ${_file}
                  OUTPUT_VARIABLE _asm RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "objdump failed on ${_file}")
  endif()
  string(REGEX MATCHALL "${_vex_regex}" _vex "${_asm}")
  list(LENGTH _vex _count)
  message(STATUS "${_file}: ${_count} VEX instructions")
  if(KERNEL STREQUAL "scalar" AND _count GREATER 0)
    list(GET _vex 0 _example)
    message(FATAL_ERROR "scalar build contains VEX code in ${_file}, e.g. '${_example}'")
  endif()
  if(KERNEL STREQUAL "avx" AND _first AND _count EQUAL 0)
    message(FATAL_ERROR "avx build, but ${_file} contains no VEX (AVX) instructions")
  endif()
  set(_first FALSE)
endforeach()
