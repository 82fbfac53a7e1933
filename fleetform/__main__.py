from fleetform.cli import main

raise SystemExit(main())
