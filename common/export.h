// RINGRAFT_API marks what libringraft.so exports. The runtime's objects are
// compiled with -fvisibility=hidden (cmake/ringraft_package.cmake), so only
// the classes and free functions of the public headers marked with it are
// visible to an embedder linking the shared library; everything else
// (shards, groups, storage, net, protocol) stays internal. Mark every class
// or struct with out-of-line members and every non-inline free function
// that a public header declares (ARCHITECTURE.md, "Build and package").
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define RINGRAFT_API __attribute__((visibility("default")))
#else
#define RINGRAFT_API
#endif
