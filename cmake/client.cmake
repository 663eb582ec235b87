# libwshub (include/wshub.h, client/) and the CLI subcommands built on it
# (cli/): included from the top-level CMakeLists.txt after the wshub target.
# docs/clients.md describes both.

# The library's own sources. client/http_client.c is the CLI's tiny HTTP
# client, not part of the library's API, so it is listed with the CLI.
set(WSH_CLIENT_SOURCES
  ${CMAKE_SOURCE_DIR}/client/backoff.c ${CMAKE_SOURCE_DIR}/client/client.c
  ${CMAKE_SOURCE_DIR}/client/client_pubs.c ${CMAKE_SOURCE_DIR}/client/client_subs.c
  ${CMAKE_SOURCE_DIR}/client/client_presence.c
  ${CMAKE_SOURCE_DIR}/client/frames.c ${CMAKE_SOURCE_DIR}/client/transport.c
  ${CMAKE_SOURCE_DIR}/client/url.c ${CMAKE_SOURCE_DIR}/client/wsc.c)
# Sans-I/O server pieces the library reuses (frame codec, UTF-8 DFA, JSON
# tokenizer and escaper, growable buffer), compiled once more as PIC with
# hidden visibility so the shared library exports only wshub_*.
set(WSH_CLIENT_REUSED
  ${CMAKE_SOURCE_DIR}/src/ws/frame.c ${CMAKE_SOURCE_DIR}/src/ws/utf8.c
  ${CMAKE_SOURCE_DIR}/src/core/json.c ${CMAKE_SOURCE_DIR}/src/core/buf.c
  ${CMAKE_SOURCE_DIR}/src/core/msg.c ${CMAKE_SOURCE_DIR}/src/core/alloc.c
  ${CMAKE_SOURCE_DIR}/src/http/json_escape.c)

foreach(lib wshub_client_objs wshub_client_reused)
  if(lib STREQUAL wshub_client_objs)
    add_library(${lib} OBJECT ${WSH_CLIENT_SOURCES})
  else()
    add_library(${lib} OBJECT ${WSH_CLIENT_REUSED})
  endif()
  set_target_properties(${lib} PROPERTIES POSITION_INDEPENDENT_CODE ON C_VISIBILITY_PRESET hidden)
  target_compile_definitions(${lib} PRIVATE WSHUB_BUILDING)
  target_compile_options(${lib} PRIVATE ${WSH_WARN})
  target_include_directories(${lib} PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/client)
  target_link_libraries(${lib} PRIVATE PkgConfig::OPENSSL)
endforeach()

# libwshub.so: the installed library.
add_library(wshub_shared SHARED $<TARGET_OBJECTS:wshub_client_objs> $<TARGET_OBJECTS:wshub_client_reused>)
set_target_properties(wshub_shared PROPERTIES OUTPUT_NAME wshub VERSION ${PROJECT_VERSION} SOVERSION 0)
target_include_directories(wshub_shared INTERFACE ${CMAKE_SOURCE_DIR}/include)
target_link_libraries(wshub_shared PRIVATE PkgConfig::OPENSSL)
if(NOT (WSH_SANITIZE OR WSH_FUZZ))
  # Every symbol the library needs must resolve at its own link, not in the app's.
  target_link_options(wshub_shared PRIVATE -Wl,--no-undefined)
endif()

# The same client code, static and without the reused server pieces: for the
# wshub binary and the unit tests, which get those from wshub_core.
add_library(wshub_client_static STATIC $<TARGET_OBJECTS:wshub_client_objs>)
target_include_directories(wshub_client_static INTERFACE ${CMAKE_SOURCE_DIR}/client)
target_link_libraries(wshub_client_static INTERFACE wshub_core)

# The CLI subcommands live in the wshub binary (src/main.c dispatches to them).
file(GLOB WSH_CLI_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/cli/*.c)
target_sources(wshub PRIVATE ${WSH_CLI_SOURCES} ${CMAKE_SOURCE_DIR}/client/http_client.c)
target_include_directories(wshub PRIVATE ${CMAKE_SOURCE_DIR}/cli ${CMAKE_SOURCE_DIR}/client)
target_link_libraries(wshub PRIVATE wshub_client_static)

# Unit tests of the client (tests/unit/test_client_*.c) link its code too.
foreach(src ${WSH_UNIT_TESTS})
  get_filename_component(name ${src} NAME_WE)
  if(name MATCHES "^test_client_")
    target_link_libraries(${name} PRIVATE wshub_client_static)
    target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/client)
  endif()
endforeach()

# The C driver the integration tests use to exercise the shared library
# through its public API only (tests/integ/python/test_client_lib.py).
add_executable(wshub_client_driver ${CMAKE_SOURCE_DIR}/tests/client/client_driver.c)
target_compile_options(wshub_client_driver PRIVATE ${WSH_WARN})
target_link_libraries(wshub_client_driver PRIVATE wshub_shared)

include(GNUInstallDirs)
# The .pc file finds its prefix relative to itself, so `cmake --install
# --prefix DIR` (and a moved tree) needs no reconfigure.
file(RELATIVE_PATH WSH_PC_REL "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
string(REGEX REPLACE "/$" "" WSH_PC_REL "${WSH_PC_REL}")
configure_file(${CMAKE_SOURCE_DIR}/client/wshub.pc.in ${CMAKE_BINARY_DIR}/wshub.pc @ONLY)
install(TARGETS wshub_shared LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${CMAKE_SOURCE_DIR}/include/wshub.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${CMAKE_BINARY_DIR}/wshub.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
install(TARGETS wshub RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
