/** Debian's Chromium under playwright-core. A missing browser fails the run with how to install it: never a silent skip. */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

const EXECUTABLE = process.env.ARRAKIS_CHROMIUM ?? '/usr/bin/chromium';

/** Launches headless Chromium; throws with the install command when it is not there. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(EXECUTABLE)) {
    throw new Error(
      `Chromium is not installed at ${EXECUTABLE}. Install Debian's package as root ` +
        '(`apt-get update && apt-get install -y chromium`), or point ARRAKIS_CHROMIUM at a Chromium binary.',
    );
  }
  // --no-sandbox: CI containers run as root, where Chromium's sandbox refuses to start.
  return await chromium.launch({ executablePath: EXECUTABLE, headless: true, args: ['--no-sandbox'] });
}
