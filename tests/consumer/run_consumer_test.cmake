# ctest driver: install strata into a scratch prefix, then configure, build and
# run tests/consumer against it with find_package(strata).
# -D: STRATA_SOURCE_DIR, STRATA_WORK_DIR, CXX_COMPILER, GENERATOR
set(prefix ${STRATA_WORK_DIR}/prefix)
set(lib_build ${STRATA_WORK_DIR}/lib-build)
set(app_build ${STRATA_WORK_DIR}/app-build)
file(REMOVE_RECURSE ${STRATA_WORK_DIR})

function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGV}")
  endif()
endfunction()

run(${CMAKE_COMMAND} -S ${STRATA_SOURCE_DIR} -B ${lib_build} -G ${GENERATOR}
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_INSTALL_PREFIX=${prefix}
    -DSTRATA_BUILD_TESTS=OFF -DSTRATA_BUILD_EXAMPLES=OFF -DSTRATA_BUILD_BENCH=OFF)
run(${CMAKE_COMMAND} --install ${lib_build})
run(${CMAKE_COMMAND} -S ${STRATA_SOURCE_DIR}/tests/consumer -B ${app_build} -G ${GENERATOR}
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${app_build})
run(${app_build}/consumer ${STRATA_SOURCE_DIR}/../shared/models/tinystories-656k)
run(${app_build}/consumer_dispatch ${STRATA_SOURCE_DIR}/../shared/models/tinystories-656k)
