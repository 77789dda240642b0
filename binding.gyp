{
  "targets": [
    {
      "target_name": "firehose_redis",
      "sources": [
        "native/addon.cc",
        "native/decoder.cc",
        "native/ingester.cc",
        "native/websocket.cc",
        "<!@(node -p \"require('fs').readFileSync('native/core/sources.list','utf8').trim().split(/\s+/).map(f=>'native/'+f).join(' ')\")"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/core",
        "native/core/writer"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "FH_HAVE_HIREDIS_SSL=1"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags": ["<!@(pkg-config --cflags hiredis)"],
      "libraries": ["<!@(pkg-config --libs hiredis_ssl hiredis)", "-lssl", "-lcrypto", "-lpthread"],
      "conditions": [
        ["'<!(echo $FH_SANITIZE)'=='1'", {
          "cflags_cc": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-O1", "-g"],
          "ldflags": ["-fsanitize=address,undefined"]
        }]
      ]
    }
  ]
}
