// electron-builder.yml checked without building installers (that needs Electron's binary and each target OS):
// the configuration is valid for the installed electron-builder and names every target and icon the issue asks for.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { JOIN_LINK_SCHEME } from '../protocol/join-link';

const require = createRequire(import.meta.url);
// electron-builder's own validator and YAML reader (its dependencies; it exports neither).
const { validateConfiguration } = require('app-builder-lib/out/util/config/config') as {
  validateConfiguration(config: unknown, logger: unknown): Promise<void>;
};
const { DebugLogger } = require('builder-util') as { DebugLogger: new (enabled: boolean) => unknown };
const yaml = require('js-yaml') as { load(text: string): unknown };

interface BuilderConfig {
  appId: string;
  productName: string;
  npmRebuild: boolean;
  files: string[];
  win: { target: string; icon: string };
  mac: { target: string; icon: string };
  linux: { target: string[]; icon: string };
  protocols: { name: string; schemes: string[] }[];
}

const config = yaml.load(readFileSync('electron-builder.yml', 'utf8')) as BuilderConfig;

describe('electron-builder.yml', () => {
  it('is a valid electron-builder configuration', async () => {
    await expect(validateConfiguration(config, new DebugLogger(false))).resolves.toBeUndefined();
  });

  it('builds NSIS, DMG, AppImage and deb of "cmd-executor", rebuilding native modules', () => {
    expect(config).toMatchObject({ appId: 'com.cmd-executor.app', productName: 'cmd-executor', npmRebuild: true });
    expect([config.win.target, config.mac.target, ...config.linux.target]).toEqual(['nsis', 'dmg', 'AppImage', 'deb']);
  });

  it('registers the app for invite links (cmdx://)', () => {
    expect(config.protocols.flatMap((p) => p.schemes)).toEqual([JOIN_LINK_SCHEME]);
  });

  it('ships the bundles the app loads and the icons it shows', () => {
    expect(config.files).toEqual(expect.arrayContaining(['package.json', 'dist/electron/**', 'dist/renderer/**', 'build/tray/**']));
    expect(JSON.parse(readFileSync('package.json', 'utf8')).main).toBe('dist/electron/main.js');
    for (const icon of [config.win.icon, config.mac.icon, `${config.linux.icon}/512x512.png`, `${config.linux.icon}/256x256.png`]) {
      expect(existsSync(icon), icon).toBe(true);
    }
    for (const state of ['idle', 'running', 'paused', 'disconnected']) {
      for (const theme of ['light', 'dark']) {
        for (const scale of ['', '@2x']) expect(existsSync(`build/tray/tray-${state}-${theme}${scale}.png`)).toBe(true);
      }
    }
  });

  it('icons are real PNGs of the sizes their names say', () => {
    const size = (file: string) => {
      const png = readFileSync(file);
      expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
      return [png.readUInt32BE(16), png.readUInt32BE(20)];
    };
    expect(size('build/icons/512x512.png')).toEqual([512, 512]);
    expect(size('build/icons/256x256.png')).toEqual([256, 256]);
    expect(size('build/tray/tray-idle-light.png')).toEqual([16, 16]);
    expect(size('build/tray/tray-idle-light@2x.png')).toEqual([32, 32]);
  });
});
