/**
 * `GET /object_info` entries exactly as real ComfyUI (v0.3.65) answers them for the nodes comfy-lite implements,
 * plus the example SaveImageWebsocket node ComfyUI ships and comfy-lite's own ArrakisDelay and (test-only, registered
 * only when comfy-lite starts with `testOnlyNodes`) ArrakisEchoFile.
 */

export type InputType = string | string[];
export type InputSpec = [InputType] | [InputType, Record<string, unknown>];

export interface ObjectInfo {
  input: {
    required: Record<string, InputSpec>;
    optional?: Record<string, InputSpec>;
    hidden?: Record<string, string>;
  };
  input_order: { required: string[]; optional?: string[]; hidden?: string[] };
  output: string[];
  output_is_list: boolean[];
  output_name: string[];
  output_tooltips?: Array<string | null>;
  name: string;
  display_name: string | null;
  description: string;
  python_module: string;
  category: string;
  output_node: boolean;
  deprecated?: boolean;
  experimental?: boolean;
  api_node?: boolean;
}

export const emptyImageInfo: ObjectInfo = {
  input: {
    required: {
      width: [
        'INT',
        {
          default: 512,
          min: 1,
          max: 16384,
          step: 1,
        },
      ],
      height: [
        'INT',
        {
          default: 512,
          min: 1,
          max: 16384,
          step: 1,
        },
      ],
      batch_size: [
        'INT',
        {
          default: 1,
          min: 1,
          max: 4096,
        },
      ],
      color: [
        'INT',
        {
          default: 0,
          min: 0,
          max: 16777215,
          step: 1,
          display: 'color',
        },
      ],
    },
  },
  input_order: {
    required: ['width', 'height', 'batch_size', 'color'],
  },
  output: ['IMAGE'],
  output_is_list: [false],
  output_name: ['IMAGE'],
  name: 'EmptyImage',
  display_name: 'EmptyImage',
  description: '',
  python_module: 'nodes',
  category: 'image',
  output_node: false,
};

/** LoadImage lists the files of the input folder (top level, images only), sorted. */
export function loadImageInfo(inputFiles: readonly string[]): ObjectInfo {
  return {
    input: {
      required: {
        image: [
          [...inputFiles],
          {
            image_upload: true,
          },
        ],
      },
    },
    input_order: {
      required: ['image'],
    },
    output: ['IMAGE', 'MASK'],
    output_is_list: [false, false],
    output_name: ['IMAGE', 'MASK'],
    name: 'LoadImage',
    display_name: 'Load Image',
    description: '',
    python_module: 'nodes',
    category: 'image',
    output_node: false,
  };
}

/** `nodes.LoadImageOutput` (v0.3.65): a bare COMBO whose list the frontend fetches from `/internal/files/output`. */
export const loadImageOutputInfo: ObjectInfo = {
  input: {
    required: {
      image: [
        'COMBO',
        {
          image_upload: true,
          image_folder: 'output',
          remote: {
            route: '/internal/files/output',
            refresh_button: true,
            control_after_refresh: 'first',
          },
        },
      ],
    },
  },
  input_order: {
    required: ['image'],
  },
  output: ['IMAGE', 'MASK'],
  output_is_list: [false, false],
  output_name: ['IMAGE', 'MASK'],
  name: 'LoadImageOutput',
  display_name: 'Load Image (from Outputs)',
  description:
    'Load an image from the output folder. When the refresh button is clicked, the node will update the image list and automatically select the first image, allowing for easy iteration.',
  python_module: 'nodes',
  category: 'image',
  output_node: false,
  experimental: true,
};

/** `comfy_extras.nodes_train.LoadImageSetFromFolderNode` (v0.3.65): the folder combo lists every input subfolder. */
export function loadImageSetFromFolderInfo(inputSubfolders: readonly string[]): ObjectInfo {
  return {
    input: {
      required: {
        folder: [[...inputSubfolders], { tooltip: 'The folder to load images from.' }],
      },
      optional: {
        resize_method: [['None', 'Stretch', 'Crop', 'Pad'], { default: 'None' }],
      },
    },
    input_order: {
      required: ['folder'],
      optional: ['resize_method'],
    },
    output: ['IMAGE'],
    output_is_list: [false],
    output_name: ['IMAGE'],
    name: 'LoadImageSetFromFolderNode',
    display_name: 'Load Image Dataset from Folder',
    description: 'Loads a batch of images from a directory for training.',
    python_module: 'comfy_extras.nodes_train',
    category: 'loaders',
    output_node: false,
    experimental: true,
  };
}

export const saveImageInfo: ObjectInfo = {
  input: {
    required: {
      images: [
        'IMAGE',
        {
          tooltip: 'The images to save.',
        },
      ],
      filename_prefix: [
        'STRING',
        {
          default: 'ComfyUI',
          tooltip:
            'The prefix for the file to save. This may include formatting information such as %date:yyyy-MM-dd% or %Empty Latent Image.width% to include values from nodes.',
        },
      ],
    },
    hidden: {
      prompt: 'PROMPT',
      extra_pnginfo: 'EXTRA_PNGINFO',
    },
  },
  input_order: {
    required: ['images', 'filename_prefix'],
    hidden: ['prompt', 'extra_pnginfo'],
  },
  output: [],
  output_is_list: [],
  output_name: [],
  name: 'SaveImage',
  display_name: 'Save Image',
  description: 'Saves the input images to your ComfyUI output directory.',
  python_module: 'nodes',
  category: 'image',
  output_node: true,
};

export const previewImageInfo: ObjectInfo = {
  input: {
    required: {
      images: ['IMAGE'],
    },
    hidden: {
      prompt: 'PROMPT',
      extra_pnginfo: 'EXTRA_PNGINFO',
    },
  },
  input_order: {
    required: ['images'],
    hidden: ['prompt', 'extra_pnginfo'],
  },
  output: [],
  output_is_list: [],
  output_name: [],
  name: 'PreviewImage',
  display_name: 'Preview Image',
  description: 'Saves the input images to your ComfyUI output directory.',
  python_module: 'nodes',
  category: 'image',
  output_node: true,
};

export const imageInvertInfo: ObjectInfo = {
  input: {
    required: {
      image: ['IMAGE'],
    },
  },
  input_order: {
    required: ['image'],
  },
  output: ['IMAGE'],
  output_is_list: [false],
  output_name: ['IMAGE'],
  name: 'ImageInvert',
  display_name: 'Invert Image',
  description: '',
  python_module: 'nodes',
  category: 'image',
  output_node: false,
};

export const imageScaleInfo: ObjectInfo = {
  input: {
    required: {
      image: ['IMAGE'],
      upscale_method: [['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos']],
      width: [
        'INT',
        {
          default: 512,
          min: 0,
          max: 16384,
          step: 1,
        },
      ],
      height: [
        'INT',
        {
          default: 512,
          min: 0,
          max: 16384,
          step: 1,
        },
      ],
      crop: [['disabled', 'center']],
    },
  },
  input_order: {
    required: ['image', 'upscale_method', 'width', 'height', 'crop'],
  },
  output: ['IMAGE'],
  output_is_list: [false],
  output_name: ['IMAGE'],
  name: 'ImageScale',
  display_name: 'Upscale Image',
  description: '',
  python_module: 'nodes',
  category: 'image/upscaling',
  output_node: false,
};

export const imageScaleByInfo: ObjectInfo = {
  input: {
    required: {
      image: ['IMAGE'],
      upscale_method: [['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos']],
      scale_by: [
        'FLOAT',
        {
          default: 1.0,
          min: 0.01,
          max: 8.0,
          step: 0.01,
        },
      ],
    },
  },
  input_order: {
    required: ['image', 'upscale_method', 'scale_by'],
  },
  output: ['IMAGE'],
  output_is_list: [false],
  output_name: ['IMAGE'],
  name: 'ImageScaleBy',
  display_name: 'Upscale Image By',
  description: '',
  python_module: 'nodes',
  category: 'image/upscaling',
  output_node: false,
};

export const imageBlurInfo: ObjectInfo = {
  input: {
    required: {
      image: ['IMAGE', {}],
      blur_radius: [
        'INT',
        {
          default: 1,
          min: 1,
          max: 31,
          step: 1,
        },
      ],
      sigma: [
        'FLOAT',
        {
          default: 1.0,
          min: 0.1,
          max: 10.0,
          step: 0.1,
        },
      ],
    },
  },
  input_order: {
    required: ['image', 'blur_radius', 'sigma'],
  },
  output: ['IMAGE'],
  output_is_list: [false],
  output_name: ['IMAGE'],
  output_tooltips: [null],
  name: 'ImageBlur',
  display_name: null,
  description: '',
  python_module: 'comfy_extras.nodes_post_processing',
  category: 'image/postprocessing',
  output_node: false,
  deprecated: false,
  experimental: false,
  api_node: false,
};

export const imageCropInfo: ObjectInfo = {
  input: {
    required: {
      image: ['IMAGE'],
      width: [
        'INT',
        {
          default: 512,
          min: 1,
          max: 16384,
          step: 1,
        },
      ],
      height: [
        'INT',
        {
          default: 512,
          min: 1,
          max: 16384,
          step: 1,
        },
      ],
      x: [
        'INT',
        {
          default: 0,
          min: 0,
          max: 16384,
          step: 1,
        },
      ],
      y: [
        'INT',
        {
          default: 0,
          min: 0,
          max: 16384,
          step: 1,
        },
      ],
    },
  },
  input_order: {
    required: ['image', 'width', 'height', 'x', 'y'],
  },
  output: ['IMAGE'],
  output_is_list: [false],
  output_name: ['IMAGE'],
  name: 'ImageCrop',
  display_name: 'Image Crop',
  description: '',
  python_module: 'comfy_extras.nodes_images',
  category: 'image/transform',
  output_node: false,
};

export const saveImageWebsocketInfo: ObjectInfo = {
  input: {
    required: {
      images: ['IMAGE'],
    },
  },
  input_order: {
    required: ['images'],
  },
  output: [],
  output_is_list: [],
  output_name: [],
  name: 'SaveImageWebsocket',
  display_name: 'SaveImageWebsocket',
  description: '',
  python_module: 'custom_nodes.websocket_image_save',
  category: 'api node/image',
  output_node: true,
};

export const arrakisDelayInfo: ObjectInfo = {
  input: {
    required: {
      image: ['IMAGE'],
      seconds: [
        'FLOAT',
        {
          default: 1.0,
          min: 0.0,
          max: 3600.0,
          step: 0.01,
        },
      ],
    },
  },
  input_order: {
    required: ['image', 'seconds'],
  },
  output: ['IMAGE'],
  output_is_list: [false],
  output_name: ['IMAGE'],
  name: 'ArrakisDelay',
  display_name: 'Arrakis Delay',
  description:
    'Passes the image through after the given seconds, reporting progress every 50 ms; stops at once on interrupt.',
  python_module: 'custom_nodes.arrakis',
  category: 'arrakis',
  output_node: false,
};

/** Test-only: an output node whose UI output names the file its inputs give (any folder, any subfolder). */
export const arrakisEchoFileInfo: ObjectInfo = {
  input: {
    required: {
      filename: ['STRING', { default: '' }],
      subfolder: ['STRING', { default: '' }],
      folder_type: [['output', 'temp', 'input']],
    },
  },
  input_order: {
    required: ['filename', 'subfolder', 'folder_type'],
  },
  output: [],
  output_is_list: [],
  output_name: [],
  name: 'ArrakisEchoFile',
  display_name: 'Arrakis Echo File (test only)',
  description:
    'Test only: names the given file in its UI output without reading or writing it, like a custom node echoing a path.',
  python_module: 'custom_nodes.arrakis',
  category: 'arrakis/testing',
  output_node: true,
};
