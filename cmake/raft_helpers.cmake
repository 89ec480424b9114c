# raft_test(NAME <name> LABEL <label> SOURCES <files...> LIBS <targets...> [TIMEOUT <s>] [ARGS <args...>])
# Builds one GoogleTest binary and registers it with ctest under a layer label,
# so that `ctest -L <label>` runs one layer's tests. Each binary is also a
# dependency of the target raft_tests_<label>, so that a build can make one
# layer's tests and nothing else (the TSan build: `./dev build tsan`).
function(raft_test)
  cmake_parse_arguments(T "" "NAME;LABEL;TIMEOUT" "SOURCES;LIBS;ARGS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main GTest::gmock)
  add_test(NAME ${T_NAME} COMMAND ${T_NAME} ${T_ARGS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT})
  if(NOT TARGET raft_tests_${T_LABEL})
    add_custom_target(raft_tests_${T_LABEL})
  endif()
  add_dependencies(raft_tests_${T_LABEL} ${T_NAME})
endfunction()

# raft_flatc(<target> <schema.fbs>...): generates C++ headers from schemas at
# build time into the build tree; generated code stays out of git.
function(raft_flatc TARGET)
  set(OUT_DIR ${CMAKE_CURRENT_BINARY_DIR}/generated/fbs)
  set(HEADERS)
  foreach(SCHEMA ${ARGN})
    get_filename_component(BASE ${SCHEMA} NAME_WE)
    set(H ${OUT_DIR}/${BASE}_generated.h)
    add_custom_command(
      OUTPUT ${H}
      COMMAND ${FLATC} --cpp --scoped-enums --cpp-std c++17 -o ${OUT_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/${SCHEMA}
      DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${SCHEMA}
      COMMENT "flatc ${SCHEMA}")
    list(APPEND HEADERS ${H})
  endforeach()
  add_custom_target(${TARGET}_gen DEPENDS ${HEADERS})
  add_library(${TARGET} INTERFACE)
  add_dependencies(${TARGET} ${TARGET}_gen)
  target_include_directories(${TARGET} INTERFACE ${CMAKE_CURRENT_BINARY_DIR}/generated)
  target_link_libraries(${TARGET} INTERFACE flatbuffers::flatbuffers)
endfunction()
