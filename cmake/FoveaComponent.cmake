# fovea_component_library(<name>): the library fovea_<name> of every .cpp in the calling folder
# (front-ends, CPU kernels, and the CUDA glue *_cuda.cpp, which is left out when
# FOVEA_CUDA=off; the kernels themselves live in kernels/). Nothing is defined for a folder
# without sources.
function(fovea_component_library name)
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  file(GLOB cuda_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_cuda.cpp)
  if(FOVEA_CUDA_MODE STREQUAL "off" AND cuda_sources)
    list(REMOVE_ITEM sources ${cuda_sources})
  endif()
  if(NOT sources)
    return()
  endif()
  add_library(fovea_${name} STATIC ${sources})
  target_link_libraries(fovea_${name} PUBLIC fovea_engine)
endfunction()
