# SPDX-License-Identifier: Apache-2.0
# The aegisbpf native addon: node-addon-api over the system libbpf.
# Built by scripts/build-native.js (npm `install` script) with
# `node-gyp rebuild --directory native --nodedir=<node prefix>`, never
# downloading headers. Output: native/build/Release/aegis_native.node
{
  "targets": [
    {
      "target_name": "aegis_native",
      "sources": [
        "src/addon.cc",
        "src/errors.cc",
        "src/libbpf-log.cc",
        "src/bpf-object.cc",
        "src/bpf-map.cc",
        "src/ring-reader.cc",
        "src/feature-probe.cc",
        "src/fs-mounts.cc",
        "src/journal-socket.cc",
        "src/crc32c.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "include_dirs": ["../bpf/include"],
      "libraries": ["-lbpf", "-lelf", "-lz"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"]
    }
  ]
}
