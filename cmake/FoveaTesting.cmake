# fovea_add_test(<target> SOURCES ... [LIBS ...]): a doctest executable whose test cases are
# registered one by one with CTest; doctest test suites become CTest labels
# (unit, gradcheck, badinput, emu, gpu, e2e). ctest -j runs several tests at once, so OpenMP
# threads sleep instead of spinning at barriers (spinning on an oversubscribed machine
# turns microsecond barriers into scheduler time slices).
include(/usr/lib/cmake/doctest/doctest.cmake OPTIONAL RESULT_VARIABLE FOVEA_DOCTEST_CMAKE)
function(fovea_add_test target)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${target} ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE fovea_test_main ${ARG_LIBS})
  set_target_properties(${target} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  doctest_discover_tests(${target} ADD_LABELS 1
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
    PROPERTIES ENVIRONMENT "FOVEA_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
               ENVIRONMENT_MODIFICATION "OMP_WAIT_POLICY=set:passive")
endfunction()
