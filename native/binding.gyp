{
  "targets": [
    {
      "target_name": "reachgate_sweep",
      "sources": ["sweep.c", "icmp.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "libraries": ["-lpthread"]
    }
  ]
}
