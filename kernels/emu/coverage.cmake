# The emu/coverage test (cmake -DKERNELS_DIR=<kernels> -DCOUNTS=<launch counts file> -P this):
# lists every __global__ kernel defined in kernels/*.cu, sums the launches that the emulated test
# executables of this run appended to COUNTS ("<count>\t<demangled name>" lines), prints the
# table (also written to coverage_summary.txt beside COUNTS, for scripts to show) and fails if
# any kernel never ran under the emulator.

file(GLOB_RECURSE sources RELATIVE "${KERNELS_DIR}/.." "${KERNELS_DIR}/*.cu")
list(FILTER sources EXCLUDE REGEX "^kernels/emu/")
list(SORT sources)

set(kernels "")
foreach(source ${sources})
  file(READ "${KERNELS_DIR}/../${source}" text)
  string(REGEX REPLACE "//[^\n]*" "" text "${text}")
  string(REGEX REPLACE "__launch_bounds__[ \t\r\n]*\\([^)]*\\)" "" text "${text}")
  string(REGEX MATCHALL "__global__[ \t\r\n]+((static|inline)[ \t\r\n]+)*void[ \t\r\n]+[A-Za-z_][A-Za-z0-9_]*[ \t\r\n]*\\("
         declarations "${text}")
  foreach(declaration ${declarations})
    string(REGEX REPLACE ".*void[ \t\r\n]+([A-Za-z_][A-Za-z0-9_]*)[ \t\r\n]*\\($" "\\1" name "${declaration}")
    list(APPEND kernels "${name}")
    set(source_of_${name} "${source}")
  endforeach()
endforeach()
list(REMOVE_DUPLICATES kernels)
list(SORT kernels)

set(lines "")
if(EXISTS "${COUNTS}")
  file(STRINGS "${COUNTS}" lines)
endif()
foreach(line ${lines})
  if(line MATCHES "^([0-9]+)\t(.*)$")
    set(count "${CMAKE_MATCH_1}")
    # "fovea::reduce_rows<256>" -> "reduce_rows"
    string(REGEX REPLACE "<.*$" "" base "${CMAKE_MATCH_2}")
    string(REGEX REPLACE "^.*::" "" base "${base}")
    if(NOT DEFINED launches_of_${base})
      set(launches_of_${base} 0)
    endif()
    math(EXPR launches_of_${base} "${launches_of_${base}} + ${count}")
  endif()
endforeach()

set(missing "")
set(table "")
foreach(kernel ${kernels})
  set(launches 0)
  if(DEFINED launches_of_${kernel})
    set(launches ${launches_of_${kernel}})
  endif()
  string(LENGTH "${launches}" width)
  math(EXPR pad "9 - ${width}")
  string(REPEAT " " ${pad} padding)
  set(mark "")
  if(launches EQUAL 0)
    list(APPEND missing "${kernel}")
    set(mark "   <-- never launched")
  endif()
  string(APPEND table "${padding}${launches}  ${kernel} (${source_of_${kernel}})${mark}\n")
endforeach()

list(LENGTH kernels kernel_count)
set(summary "SIMT emulator coverage: ${kernel_count} __global__ kernels in kernels/, launches in this test run\n")
string(APPEND summary " launches  kernel (source)\n${table}")
get_filename_component(counts_dir "${COUNTS}" DIRECTORY)
file(WRITE "${counts_dir}/coverage_summary.txt" "${summary}")
message("${summary}")
if(missing)
  list(LENGTH missing missing_count)
  string(JOIN ", " missing_text ${missing})
  message(FATAL_ERROR "${missing_count} kernel(s) in kernels/ never ran under the emulator: ${missing_text}. "
                      "Add an emu test that launches each (tests/emu/, or the op's test with fovea_emu_add_test). "
                      "For a partial ctest run, skip this check with: ctest -FC fovea_emu_launch_counts")
endif()
