from neurocodec.cli import main

raise SystemExit(main())
