/** Command templates are argv: shell quoting and escapes are honoured, anything only a shell could run is refused. */
import { describe, expect, it } from 'vitest';
import {
  CommandTemplateError,
  commandTemplateProblem,
  fillTemplate,
  splitWords,
} from '../../src/fleet/providers/command-line.js';

describe('splitWords', () => {
  it('groups quoted words as a shell does, and joins quote runs within one word', () => {
    expect(splitWords(`python main.py --extra "a b" 'c d' --port 8188`)).toEqual([
      'python',
      'main.py',
      '--extra',
      'a b',
      'c d',
      '--port',
      '8188',
    ]);
    expect(splitWords(`--name='x y'"z"w  ''`)).toEqual(['--name=x yzw', '']);
    expect(splitWords(`  a\t b \n`)).toEqual(['a', 'b']);
  });

  it('honours backslash escapes outside and inside double quotes, not inside single quotes', () => {
    expect(splitWords(String.raw`a\ b "c\"d" 'e\f' g\|h "\$HOME"`)).toEqual([
      'a b',
      'c"d',
      String.raw`e\f`,
      'g|h',
      '$HOME',
    ]);
  });

  it('keeps quoted operators, globs and dollars literal', () => {
    expect(splitWords(`sh -c 'echo $HOME | tee *.log # x'`)).toEqual([
      'sh',
      '-c',
      'echo $HOME | tee *.log # x',
    ]);
  });

  it.each([
    ['python main.py | tee log', '"|" is a shell operator'],
    ['python main.py > out.log', '">" is a shell operator'],
    ['python main.py && echo done', '"&&" is a shell operator'],
    ['python main.py; rm -rf x', '";" is a shell operator'],
    ['python main.py &', '"&" is a shell operator'],
    ['python $(which x)', '"$" starts a shell expansion'],
    ['python models/*.ckpt', '"models/*.ckpt" is a glob'],
    ['python main.py?', 'is a glob'],
    ['python main.py # the server', '# starts a comment'],
    ['python main.py --dir $HOME/models', '$HOME is not expanded'],
    ['python main.py --dir "${HOME}"', '$HOME is not expanded'],
    ['python "main.py', 'unclosed quote'],
    ["python 'main.py", 'unclosed quote'],
    ['python main.py\\', 'trailing backslash'],
  ])('refuses %s', (line, message) => {
    expect(() => splitWords(line)).toThrow(CommandTemplateError);
    expect(() => splitWords(line)).toThrow(message);
    expect(commandTemplateProblem(line)).toContain(message);
  });

  it('accepts a normal template before its placeholders are filled', () => {
    const template = 'python main.py --listen 127.0.0.1 --port {port} --cuda-device {gpu}';
    expect(commandTemplateProblem(template)).toBeNull();
    expect(splitWords(fillTemplate(template, { port: 8190, gpu: '1' }))).toEqual([
      'python',
      'main.py',
      '--listen',
      '127.0.0.1',
      '--port',
      '8190',
      '--cuda-device',
      '1',
    ]);
  });
});
