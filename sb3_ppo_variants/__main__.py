import sys

from sb3_ppo_variants.cli import main

sys.exit(main())
