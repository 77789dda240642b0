{
  "targets": [
    {
      "target_name": "firehose_redis",
      "variables": {
        # hiredis with TLS, built statically for the target architecture
        # (fetched and checksum-verified on first use, then reused).
        "hiredis": "<!(node scripts/hiredis.mjs <(target_arch))"
      },
      "sources": [
        "native/addon.cc",
        "native/decoder.cc",
        "native/ingester.cc",
        "native/websocket.cc",
        "<!@(node -p \"require('fs').readFileSync('native/core/sources.list','utf8').trim().split(/\s+/).map(f=>'native/'+f).join(' ')\")"
      ],
      # C++ exceptions on, the node-addon-api way (NAPI_CPP_EXCEPTIONS and
      # -fexceptions on every platform).
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "include_dirs": [
        "native/core",
        "native/core/writer",
        "<(hiredis)/include"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "FH_HAVE_HIREDIS_SSL=1"
      ],
      "cflags_cc!": ["-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O3", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      # OpenSSL stays the system's shared libssl3; hiredis's symbols are
      # not exported from the addon.
      "libraries": ["<(hiredis)/lib/libhiredis_ssl.a", "<(hiredis)/lib/libhiredis.a", "-lssl", "-lcrypto", "-lpthread"],
      "ldflags": ["-Wl,--exclude-libs,ALL"],
      "conditions": [
        ["'<!(echo $FH_SANITIZE)'=='1'", {
          "cflags_cc": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-O1", "-g"],
          "ldflags": ["-fsanitize=address,undefined"]
        }]
      ]
    }
  ]
}
